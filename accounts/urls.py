from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import onboarding, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.sign_up, name="signup"),
    path("profile/", views.profile, name="profile"),
    path("welcome/", onboarding.welcome, name="welcome"),
]
