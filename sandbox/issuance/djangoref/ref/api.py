"""The reference views: the seed's filter sets with DRF 3.14 and
django-filter 23.1, and the emulator's fixed server settings
(sandbox-fixture.md)."""
from django.db.models import F
from django_filters import rest_framework as filters
from rest_framework import serializers, viewsets
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.pagination import PageNumberPagination

from . import lookups  # noqa: F401  (registers the PostgreSQL-like lookups)
from .models import Investment, Offering

NUM = ["exact", "gt", "gte", "in", "lt", "lte"]
TIME = ["exact", "date__gte", "date__lte", "gte", "in", "lte"]
EQ = ["exact", "in"]


class CharInFilter(filters.BaseInFilter, filters.CharFilter):
    pass


class InvestmentFilter(filters.FilterSet):
    # The seed's names for the user's first and last name.
    investor__user__entity__entityperson__first_name = filters.CharFilter(field_name="investor__user__first_name")
    investor__user__entity__entityperson__first_name__in = CharInFilter(field_name="investor__user__first_name", lookup_expr="in")
    investor__user__entity__entityperson__last_name = filters.CharFilter(field_name="investor__user__last_name")
    investor__user__entity__entityperson__last_name__in = CharInFilter(field_name="investor__user__last_name", lookup_expr="in")

    class Meta:
        model = Investment
        fields = {
            "amount": NUM,
            "created_at": TIME,
            "id": EQ,
            "investmentapproval__is_approved": EQ,
            "investor": EQ,
            "investor__entity": ["exact", "isnull"],
            "investor__entity__email": EQ,
            "investor__entity__kyc_status": EQ,
            "investor__type": EQ,
            "investor__user": EQ,
            "investor__user__email": EQ,
            "offering": EQ,
            "offering__name": EQ,
            "offering__slug": EQ,
            "payment_method": EQ,
            "processed_at": ["exact", "date__gte", "date__lte", "gte", "in", "isnull", "lte"],
            "processing_issue_statuses": ["exact", "contains", "in", "startswith"],
            "quantity": EQ,
            "reference_id": EQ,
            "requested_payment_method": EQ,
            "shares_amount": NUM,
            "status": EQ,
            "updated_at": TIME,
            "watchlistentity__has_hits": EQ,
        }


class OfferingFilter(filters.FilterSet):
    class Meta:
        model = Offering
        fields = {
            "archived": EQ,
            "id": EQ,
            "issuer": EQ,
            "issuer__archived": EQ,
            "name": ["exact", "contains", "in"],
            "opened_at": EQ,
            "slug": ["exact", "contains", "in"],
            "status": ["exact", "contains", "in"],
            "type": ["exact", "contains", "in"],
        }


class PgOrderingFilter(OrderingFilter):
    """DRF's OrderingFilter with PostgreSQL's NULL placement (NULLs are the
    largest value) and the emulator's tie-break: PostgreSQL leaves the order
    of equal keys undefined, so both sides order ties by id in the direction
    of the last term."""

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        exprs = []
        for term in ordering:
            desc = term.startswith("-")
            name = term[1:] if desc else term
            exprs.append(F(name).desc(nulls_first=True) if desc else F(name).asc(nulls_last=True))
        if not any(t.lstrip("-") == "id" for t in ordering):
            exprs.append(F("id").desc() if ordering[-1].startswith("-") else F("id").asc())
        return queryset.order_by(*exprs)


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class IDSerializer(serializers.Serializer):
    id = serializers.IntegerField()


class InvestmentViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Investment.objects.all()
    serializer_class = IDSerializer
    filter_backends = [filters.DjangoFilterBackend, SearchFilter, PgOrderingFilter]
    filterset_class = InvestmentFilter
    search_fields = ["reference_id", "offering__name", "investor__user__email",
                     "investor__user__first_name", "investor__user__last_name"]
    ordering_fields = ["id", "amount", "quantity", "shares_amount", "status", "created_at", "updated_at",
                       "processed_at", "offering", "reference_id"]
    ordering = ["-created_at", "-id"]
    pagination_class = Pagination


class OfferingViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Offering.objects.all()
    serializer_class = IDSerializer
    filter_backends = [filters.DjangoFilterBackend, SearchFilter, PgOrderingFilter]
    filterset_class = OfferingFilter
    search_fields = ["name", "slug"]
    ordering_fields = ["id", "name", "created_at", "opened_at", "status", "type"]
    ordering = ["-created_at", "-id"]
    pagination_class = Pagination
