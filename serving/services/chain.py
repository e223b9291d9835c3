"""Calling the pure stages of the chain (detect, embed, match): once more when a replica died.

A replica killed mid-request takes the request with it; the stages hold no state a retry could
repeat, so the call is made once more on another replica. What still fails is the service not
being ready (503 with Retry-After), never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError

from serving.errors import NotReadyError

logger = logging.getLogger(__name__)

# What a dead, restarting or overloaded replica looks like to its caller.
REPLICA_GONE = (RayActorError, ActorUnavailableError, ReplicaUnavailableError, DeploymentUnavailableError)


async def call_stage(stage: str, method: Any, *args: Any) -> Any:
    """``await method.remote(*args)``, retried once on a replica that died; NotReadyError after that."""
    for attempt in (1, 2):
        try:
            return await method.remote(*args)
        except BackPressureError as exc:
            raise NotReadyError(f"the {stage} stage is at capacity; try again shortly") from exc
        except REPLICA_GONE as exc:
            if attempt == 2:
                raise NotReadyError(f"the {stage} stage is restarting; try again shortly") from exc
            logger.warning("%s replica lost during a call (%s); calling again", stage, type(exc).__name__)
    raise AssertionError("unreachable")
