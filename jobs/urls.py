from django.urls import path

from jobs import views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("<uuid:job_id>/", views.job_row, name="row"),
    path("<uuid:job_id>/retry", views.job_retry, name="retry"),
    path("<uuid:job_id>/cancel", views.job_cancel, name="cancel"),
]
