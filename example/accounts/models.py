"""Data model of the example site: members, plans, referrals and payouts.

The project this example is modelled on sells course bundles ("plans") and
pays members commissions for the people they refer.
"""

import secrets
import string
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

REFERRAL_CODE_ALPHABET = string.ascii_uppercase + string.digits
REFERRAL_CODE_LENGTH = 8

PERCENT_VALIDATORS = [
    MinValueValidator(Decimal("0")),
    MaxValueValidator(Decimal("100")),
]


def generate_referral_code():
    """Return a random, easy-to-read referral code such as ``K7Q2M9XA``."""
    return "".join(
        secrets.choice(REFERRAL_CODE_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH)
    )


class User(AbstractUser):
    """A member. ``referred_by`` is the sponsor whose code was used at sign-up."""

    phone = models.CharField(max_length=20, blank=True)
    referral_code = models.CharField(
        max_length=12,
        unique=True,
        default=generate_referral_code,
        editable=False,
        help_text="Code other people enter to join under this member.",
    )
    referred_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="direct_referrals",
    )
    wallet_balance = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0.00")
    )

    class Meta(AbstractUser.Meta):
        ordering = ["-date_joined"]


class Plan(models.Model):
    """A course bundle members can buy."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    referral_bonus_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("10.00"),
        validators=PERCENT_VALIDATORS,
        help_text="Direct commission paid to the sponsor, as % of the price.",
    )
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(
        default=0, help_text="Lower numbers are listed first."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "price"]
        indexes = [
            # The home page lists active plans in this order.
            models.Index(
                fields=["is_active", "sort_order"], name="accounts_plan_active_sort_idx"
            ),
        ]

    def __str__(self):
        return self.name


class UserPlan(models.Model):
    """A member's purchase of a plan."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending payment"
        ACTIVE = "active", "Active"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="user_plans"
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="subscriptions"
    )
    amount_paid = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    purchased_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-purchased_at"]
        constraints = [
            # Plans are lifetime purchases: buy each one at most once.
            models.UniqueConstraint(
                fields=["user", "plan"], name="accounts_userplan_unique_user_plan"
            ),
        ]

    def __str__(self):
        return f"{self.user} - {self.plan} ({self.get_status_display()})"


class TeamReward(models.Model):
    """A one-off bonus unlocked when a member's team reaches a size/turnover."""

    name = models.CharField(max_length=100)
    required_team_size = models.PositiveIntegerField()
    required_team_business = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="Total plan sales of the whole downline needed to qualify.",
    )
    reward_amount = models.DecimalField(max_digits=12, decimal_places=2)
    reward_description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["required_team_size"]

    def __str__(self):
        return f"{self.name} ({self.required_team_size} members)"


class Commission(models.Model):
    """Money earned by ``user`` because of something ``source_user`` did."""

    class Kind(models.TextChoices):
        DIRECT = "direct", "Direct referral"
        LEVEL = "level", "Level income"
        TEAM_REWARD = "team_reward", "Team reward"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="commissions"
    )
    source_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generated_commissions",
    )
    user_plan = models.ForeignKey(
        UserPlan,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="commissions",
    )
    team_reward = models.ForeignKey(
        TeamReward,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="commissions",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.DIRECT)
    level = models.PositiveSmallIntegerField(default=1)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} to {self.user}"


class Referral(models.Model):
    """One edge of the upline tree: ``referred`` sits ``level`` levels below
    ``referrer``. Level 1 is the direct sponsor (``User.referred_by``)."""

    referrer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="downline"
    )
    referred = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upline"
    )
    level = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["referrer", "level", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["referrer", "referred"], name="accounts_referral_unique_pair"
            ),
        ]

    def __str__(self):
        return f"{self.referrer} -> {self.referred} (level {self.level})"


class Payment(models.Model):
    """A payment submitted by a member, usually for a plan purchase."""

    class Method(models.TextChoices):
        UPI = "upi", "UPI"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CARD = "card", "Card"
        WALLET = "wallet", "Wallet balance"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending verification"
        SUCCESS = "success", "Successful"
        FAILED = "failed", "Failed"
        REFUNDED = "refunded", "Refunded"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payments"
    )
    user_plan = models.ForeignKey(
        UserPlan,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="payments",
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.UPI)
    transaction_id = models.CharField(max_length=100, unique=True)
    proof = models.FileField(
        upload_to="payments/%Y/%m/",
        blank=True,
        help_text="Screenshot or receipt uploaded by the member.",
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.transaction_id} ({self.amount}, {self.get_status_display()})"


class Course(models.Model):
    """A course; plans bundle one or more courses."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True)
    thumbnail = models.FileField(upload_to="courses/", blank=True)
    plans = models.ManyToManyField(Plan, blank=True, related_name="courses")
    is_published = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title


class SiteSettings(models.Model):
    """Site-wide configuration edited in the admin. There is only ever one
    row (pk=1); use ``SiteSettings.load()`` to read it."""

    site_name = models.CharField(max_length=100, default="MySite")
    tagline = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    min_withdrawal_amount = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("200.00")
    )
    tds_percent = models.DecimalField(
        "TDS %",
        max_digits=5,
        decimal_places=2,
        default=Decimal("5.00"),
        validators=PERCENT_VALIDATORS,
        help_text="Tax deducted at source from every payout.",
    )
    admin_charge_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("5.00"),
        validators=PERCENT_VALIDATORS,
    )
    registration_open = models.BooleanField(default=True)
    maintenance_mode = models.BooleanField(
        default=False,
        help_text="Show a maintenance banner and stop new purchases.",
    )
    support_phone = models.CharField(max_length=20, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "site settings"
        verbose_name_plural = "site settings"

    def __str__(self):
        return self.site_name

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls):
        """Return the settings row, creating it with defaults if missing."""
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class CourseLink(models.Model):
    """A lesson, download or live-session link inside a course."""

    class Kind(models.TextChoices):
        VIDEO = "video", "Video"
        PDF = "pdf", "PDF"
        LIVE = "live", "Live session"
        OTHER = "other", "Other"

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="links")
    title = models.CharField(max_length=200)
    url = models.URLField(max_length=500)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.VIDEO)
    sort_order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["course", "sort_order", "id"]

    def __str__(self):
        return f"{self.course}: {self.title}"
