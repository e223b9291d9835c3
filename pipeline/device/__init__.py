"""The pipeline's steps on torch tensors that stay on one device, from JPEG bytes to matches.

Each module mirrors a numpy step of ``pipeline/`` (decode, letterbox, detect, align, quality,
match) and is checked against it; the same code runs on the CPU, where CI tests it. Importing
these modules needs torch and torchvision, which the numpy pipeline never does.
"""
