"""A gateway `ProviderError` as the API's error envelope (shared by every view that calls a model)."""

from __future__ import annotations

from benchhub.api.errors import ApiError, PolicyDenied, ProviderFailed, RateLimited
from providers.interface import ErrorType, ProviderError


def api_error_from(exc: ProviderError) -> ApiError:
    details = {"type": str(exc.type), "retries": exc.retries}
    if exc.type == ErrorType.POLICY_DENIED:
        return PolicyDenied(exc.message, details=details)
    if exc.type == ErrorType.RATE_LIMITED:
        return RateLimited(exc.message, retry_after=exc.retry_after or 1.0, details=details)
    return ProviderFailed(exc.message, details=details)
