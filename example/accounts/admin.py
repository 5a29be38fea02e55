from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import (
    Commission,
    Course,
    CourseLink,
    Payment,
    Plan,
    Referral,
    SiteSettings,
    TeamReward,
    User,
    UserPlan,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (
        (
            "Membership",
            {"fields": ("phone", "referral_code", "referred_by", "wallet_balance")},
        ),
    )
    add_fieldsets = BaseUserAdmin.add_fieldsets + (
        ("Membership", {"fields": ("phone", "referred_by")}),
    )
    readonly_fields = ("referral_code",)
    raw_id_fields = ("referred_by",)
    list_display = (
        "username",
        "email",
        "phone",
        "referral_code",
        "referred_by",
        "wallet_balance",
        "is_active",
        "date_joined",
    )
    list_filter = BaseUserAdmin.list_filter + ("date_joined",)
    search_fields = BaseUserAdmin.search_fields + ("phone", "referral_code")


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "price",
        "referral_bonus_percent",
        "is_active",
        "sort_order",
        "updated_at",
    )
    list_editable = ("is_active", "sort_order")
    list_filter = ("is_active",)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(UserPlan)
class UserPlanAdmin(admin.ModelAdmin):
    list_display = ("user", "plan", "amount_paid", "status", "purchased_at")
    list_filter = ("status", "plan")
    search_fields = ("user__username", "user__email", "plan__name")
    raw_id_fields = ("user",)
    date_hierarchy = "purchased_at"


@admin.register(TeamReward)
class TeamRewardAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "required_team_size",
        "required_team_business",
        "reward_amount",
        "is_active",
    )
    list_filter = ("is_active",)
    search_fields = ("name",)


@admin.register(Commission)
class CommissionAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "kind",
        "level",
        "amount",
        "status",
        "source_user",
        "created_at",
    )
    list_filter = ("kind", "status", "level")
    search_fields = ("user__username", "source_user__username")
    raw_id_fields = ("user", "source_user", "user_plan", "team_reward")
    date_hierarchy = "created_at"


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = ("referrer", "referred", "level", "created_at")
    list_filter = ("level",)
    search_fields = ("referrer__username", "referred__username")
    raw_id_fields = ("referrer", "referred")


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = (
        "transaction_id",
        "user",
        "amount",
        "method",
        "status",
        "created_at",
    )
    list_filter = ("status", "method")
    search_fields = ("transaction_id", "user__username", "user__email")
    raw_id_fields = ("user", "user_plan")
    date_hierarchy = "created_at"


class CourseLinkInline(admin.TabularInline):
    model = CourseLink
    extra = 1
    fields = ("title", "url", "kind", "sort_order", "is_active")


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "is_published", "updated_at")
    list_filter = ("is_published", "plans")
    search_fields = ("title", "description")
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("plans",)
    inlines = [CourseLinkInline]


@admin.register(CourseLink)
class CourseLinkAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "kind", "sort_order", "is_active")
    list_filter = ("kind", "is_active", "course")
    search_fields = ("title", "url", "course__title")


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    list_display = ("site_name", "registration_open", "maintenance_mode", "updated_at")

    def has_add_permission(self, request):
        # Single row: allow adding only until it exists.
        return not SiteSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
