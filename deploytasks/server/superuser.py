"""Entry: whether a superuser exists, and one created when asked (the password arrives on stdin, never argv)."""
from .results import SuperuserResult


def main(params) -> SuperuserResult:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    username = params.get("username")
    result = {"superusers": User._default_manager.filter(is_superuser=True).count()}
    if username:
        lookup = {User.USERNAME_FIELD: username}
        if User._default_manager.filter(**lookup).exists():
            result["created"] = False
            result["exists"] = True
        elif params.get("create"):
            fields = dict(lookup)
            email_field = User.get_email_field_name()
            if email_field != User.USERNAME_FIELD:
                fields[email_field] = params.get("email") or ""
            User._default_manager.create_superuser(password=params["password"], **fields)
            result["created"] = True
            result["exists"] = True
        else:
            result["exists"] = False
    return result
