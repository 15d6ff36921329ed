from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """`{"count", "next", "previous", "results"}` with a caller-chosen page size up to 500."""

    page_size_query_param = "page_size"
    max_page_size = 500


def paginated_response(request, view, queryset, serializer_class, **serializer_kwargs):  # type: ignore[no-untyped-def]
    """One page of `queryset` in the list shape of API.md, for plain APIViews."""
    paginator = StandardPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, **serializer_kwargs).data)
