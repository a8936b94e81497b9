"""Models carrying the fields the Issuance filter set (seed 002) reaches.

Only what the filters, search and ordering need; the API's other fields are
not part of the comparison.
"""
from django.db import models

OFFERING_TYPES = [(v, v) for v in ["reg_a", "reg_d_506b", "reg_d_506c", "reg_s", "reg_cf", "test_the_waters"]]
OFFERING_STATUSES = [(v, v) for v in ["incomplete", "pending", "opened", "closed", "paused"]]
INVESTOR_TYPES = [(v, v) for v in ["person", "company", "trust", "trust_ira"]]
KYC_STATUSES = [(v, v) for v in ["unverified", "processing", "passed", "failed"]]
PAYMENT_METHODS = [(v, v) for v in ["card", "wire", "ira", "other", "crypto"]]
INVESTMENT_STATUSES = [(v, v) for v in [
    "started", "not_received", "payment_failed", "received", "cancelled", "refunded", "invested",
    "approved", "not_approved", "accepted", "accepted_escrow_closed"]]


class Issuer(models.Model):
    name = models.CharField(max_length=255)
    archived = models.BooleanField(default=False)


class Offering(models.Model):
    issuer = models.ForeignKey(Issuer, on_delete=models.CASCADE)
    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=255)
    type = models.CharField(max_length=32, choices=OFFERING_TYPES)
    status = models.CharField(max_length=32, choices=OFFERING_STATUSES)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    opened_at = models.DateTimeField(null=True)


class User(models.Model):
    email = models.EmailField(max_length=255)
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)


class Entity(models.Model):
    email = models.CharField(max_length=255)
    kyc_status = models.CharField(max_length=32, choices=KYC_STATUSES)


class Investor(models.Model):
    type = models.CharField(max_length=32, choices=INVESTOR_TYPES)
    user = models.ForeignKey(User, null=True, on_delete=models.CASCADE)
    entity = models.ForeignKey(Entity, null=True, on_delete=models.SET_NULL)


class Investment(models.Model):
    offering = models.ForeignKey(Offering, on_delete=models.CASCADE)
    investor = models.ForeignKey(Investor, on_delete=models.CASCADE)
    reference_id = models.CharField(max_length=255)
    status = models.CharField(max_length=32, choices=INVESTMENT_STATUSES)
    quantity = models.IntegerField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    shares_amount = models.DecimalField(max_digits=14, decimal_places=2)
    payment_method = models.CharField(max_length=32)
    requested_payment_method = models.CharField(max_length=32, choices=PAYMENT_METHODS)
    processing_issue_statuses = models.CharField(max_length=1024, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True)


class InvestmentApproval(models.Model):
    investment = models.OneToOneField(Investment, on_delete=models.CASCADE)
    is_approved = models.BooleanField()


class WatchlistEntity(models.Model):
    investment = models.OneToOneField(Investment, on_delete=models.CASCADE)
    has_hits = models.BooleanField()
