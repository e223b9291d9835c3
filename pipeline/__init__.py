"""Pure pipeline steps on arrays: decode, detect, align, quality, embed, match."""
