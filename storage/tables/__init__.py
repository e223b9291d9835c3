"""SQLAlchemy tables for SuraSmart's whole domain (importing this registers all of them)."""

from storage.tables.audit import AuditEntry, AuditHead
from storage.tables.base import Base
from storage.tables.cases import Case, CasePriority, CaseStatus, Sex
from storage.tables.external import (
    ExternalDatabase,
    ExternalRecord,
    PhotoKind,
    QueryLog,
    SchemaMapping,
    SourceKind,
    SyncLog,
    SyncStatus,
)
from storage.tables.faces import (
    Face,
    Image,
    ImageSource,
    Match,
    MatchReview,
    ProcessingStatus,
    ReviewDecision,
    ReviewStatus,
)
from storage.tables.jobs import Job, JobPriority, JobSchedule, JobStatus
from storage.tables.notifications import Channel, Notification, NotificationKind, NotificationPreference
from storage.tables.users import Access, CaseGrant, RefreshToken, Role, SignInAttempt, User

__all__ = [
    "Access",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Case",
    "CaseGrant",
    "CasePriority",
    "CaseStatus",
    "Channel",
    "ExternalDatabase",
    "ExternalRecord",
    "Face",
    "Image",
    "ImageSource",
    "Job",
    "JobPriority",
    "JobSchedule",
    "JobStatus",
    "Match",
    "MatchReview",
    "Notification",
    "NotificationKind",
    "NotificationPreference",
    "PhotoKind",
    "ProcessingStatus",
    "QueryLog",
    "RefreshToken",
    "ReviewDecision",
    "ReviewStatus",
    "Role",
    "SchemaMapping",
    "Sex",
    "SignInAttempt",
    "SourceKind",
    "SyncLog",
    "SyncStatus",
    "User",
]
