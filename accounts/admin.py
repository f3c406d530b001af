from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User


@admin.register(User)
class EncoreUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Encore", {"fields": ("display_name", "is_host")}),)
    list_display = ("username", "display_name", "email", "is_host", "is_staff", "is_active")
    list_filter = ("is_host", *UserAdmin.list_filter)
