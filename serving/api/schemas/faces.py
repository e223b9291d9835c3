"""Faces: search results, sightings, reference photos, health."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from storage.tables import ReviewStatus


class FaceOut(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in the photo's pixels (upright).")
    landmarks: list[list[float]] = Field(description="Five x, y points: eyes, nose, mouth corners.")
    score: float = Field(description="Detector confidence, 0-1.")
    quality: float = Field(description="0-1 combination of size, sharpness and confidence.")


class AgeGapOut(BaseModel):
    reference_age_years: float = Field(description="The person's age in the reference photo.")
    years_apart: float = Field(description="Years from the reference photo to the searched photo.")


class CentroidOut(BaseModel):
    similarity: float = Field(description="The face against the normalised mean of the case's photos.")
    photos: int = Field(description="How many reference photos the centroid averages.")
    false_accept_rate: float = Field(description="How often a different person scores this high (per case).")


class CandidateOut(BaseModel):
    case_id: uuid.UUID
    similarity: float = Field(description="Cosine similarity of the face and the case's closest reference face.")
    false_accept_rate: float = Field(
        description="How often two different people score this high, from the pack's calibration."
    )
    above_threshold: bool = Field(
        description="Its most similar photo, or the centroid of its photos, passes the operating point: worth a "
        "human review."
    )
    centroid: CentroidOut | None = Field(
        default=None, description="For a case of several photos: the face against their centroid."
    )
    age_gap: AgeGapOut | None = Field(
        default=None,
        description="Put forward by rank, whatever the threshold says: the case's reference photo shows a child "
        "years before this photo, where scores mean less.",
    )


class OperatingPointOut(BaseModel):
    threshold: float = Field(description="Similarity a candidate must reach to count as above threshold.")
    false_accept_rate: float = Field(
        description="The false-accept rate per comparison (a reference photo, or a centroid) at the thresholds."
    )
    gallery_faces: int = Field(description="Reference photos of open cases each face was compared with.")
    comparisons: int = Field(description="Those photos, plus one centroid per case with several photos.")
    centroid_thresholds: dict[int, float] = Field(
        description="The centroid's threshold by photos in the case (the largest serves larger cases)."
    )
    expected_wrong_candidates: float = Field(
        description="Wrong cases expected above threshold per face searched, by chance, at this gallery size."
    )


class SearchFaceOut(BaseModel):
    face: FaceOut
    candidates: list[CandidateOut]


class PhotoInfo(BaseModel):
    width: int
    height: int
    format: str
    notes: list[str] = Field(description="What decoding or detection had to do (rotation, padding, …).")


class SearchResponse(BaseModel):
    pack: str
    threshold: float = Field(description="The operating point's threshold (as in `operating_point`).")
    operating_point: OperatingPointOut
    photo: PhotoInfo
    faces: list[SearchFaceOut]


class MatchOut(BaseModel):
    match_id: uuid.UUID
    case_id: uuid.UUID
    similarity: float
    false_accept_rate: float
    status: ReviewStatus
    age_gap: bool = Field(description="Put forward across an age gap (a child's reference photo), not by threshold.")


class SightingFaceOut(BaseModel):
    face_id: uuid.UUID
    face: FaceOut
    matches: list[MatchOut]


class SightingResponse(BaseModel):
    image_id: uuid.UUID
    created: bool = Field(description="False when the same photo had been stored before.")
    pack: str
    faces: list[SightingFaceOut]


class IntakeWarningOut(BaseModel):
    code: str = Field(description="small_face, blurred or other_faces.")
    detail: str


class EnrolResponse(BaseModel):
    case_id: uuid.UUID
    image_id: uuid.UUID
    face_id: uuid.UUID
    face: FaceOut
    created: bool
    faces_found: int = Field(description="Faces the detector found in the photo; one of them was enrolled.")
    warnings: list[IntakeWarningOut] = Field(
        description="Why this reference may match less well; strict mode refuses instead."
    )


class FoundFace(BaseModel):
    index: int = Field(description="Send it back as `face` to enrol this one.")
    box: list[float]
    score: float
    quality: float
    size: float = Field(description="Shorter side of the box, in pixels.")
    crop_jpeg_base64: str = Field(description="The aligned face, JPEG, base64: the caller's own photo.")


class EnrolmentProblem(BaseModel):
    """A reference photo refused: why, and the faces found so that one can be chosen."""

    error: str = Field(description="no_face, several_faces, no_such_face, too_small, too_blurred.")
    detail: str
    faces: list[FoundFace] = Field(default_factory=list)


class ReadyResponse(BaseModel):
    ready: bool
    checks: dict[str, bool]


class HealthResponse(BaseModel):
    status: str = "ok"
    time: datetime
