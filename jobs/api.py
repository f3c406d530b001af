"""The jobs API (staff): list and read jobs, retry or cancel them, statistics."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import generics, serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import filter_by_choices
from common.errors import ApplicationError
from common.schema import error
from jobs import services
from jobs.models import Job, JobLog
from jobs.stats import job_stats


class JobLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobLog
        fields = ["at", "event", "stage", "message"]


class JobOutputSerializer(serializers.ModelSerializer):
    song_title = serializers.CharField(source="song.__str__", read_only=True)

    class Meta:
        model = Job
        fields = [
            "id", "song", "song_title", "kind", "params", "status", "stage", "start_stage", "progress", "message",
            "error_code", "error_message", "attempts", "manual_retries", "priority", "cancel_requested",
            "next_attempt_at", "heartbeat_at", "worker", "task_id", "stage_seconds",
            "created_at", "started_at", "finished_at",
        ]


class JobDetailOutputSerializer(JobOutputSerializer):
    log = JobLogSerializer(many=True, read_only=True)

    class Meta(JobOutputSerializer.Meta):
        fields = [*JobOutputSerializer.Meta.fields, "log"]


class JobListApi(generics.ListAPIView):
    permission_classes = [IsAdminUser]
    serializer_class = JobOutputSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("status", enum=Job.Status.values),
            OpenApiParameter("kind", enum=Job.Kind.values),
            OpenApiParameter("song", OpenApiTypes.UUID, description="A song id."),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        jobs = Job.objects.select_related("song").order_by("-created_at")
        params = self.request.query_params
        jobs = filter_by_choices(jobs, params, {"status": Job.Status.values, "kind": Job.Kind.values})
        if "song" in params:  # given empty or twice too: a 400, not quietly every song
            songs = params.getlist("song")
            try:
                if len(songs) != 1:
                    raise serializers.ValidationError("once")
                jobs = jobs.filter(song_id=serializers.UUIDField().to_internal_value(songs[0]))
            except serializers.ValidationError:
                raise ApplicationError("song must be a song id (a UUID).", extra={"song": songs}) from None
        return jobs


class JobDetailApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses=JobDetailOutputSerializer)
    def get(self, request, pk):
        job = get_object_or_404(Job.objects.select_related("song").prefetch_related("log"), pk=pk)
        return Response(JobDetailOutputSerializer(job).data)


class JobRetryApi(APIView):
    """Run a failed or cancelled job again, from the first stage whose output is missing."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses={
        202: JobOutputSerializer, 409: error(409, "The job is not failed or cancelled, or its retries are used up."),
    })
    def post(self, request, pk):
        job = services.job_retry(job=get_object_or_404(Job, pk=pk), user=request.user)
        return Response(JobOutputSerializer(job).data, status=202)


class JobCancelApi(APIView):
    """Cancel a job: at once if it has not started, otherwise its worker stops soon."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses={202: JobOutputSerializer, 409: error(409, "The job has ended already.")})
    def post(self, request, pk):
        job = services.job_cancel(job=get_object_or_404(Job, pk=pk), user=request.user)
        return Response(JobOutputSerializer(job).data, status=202)


class JobStatsApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema_serializer(component_name="JobStats")
    class OutputSerializer(serializers.Serializer):
        by_status = serializers.DictField(child=serializers.IntegerField())
        total = serializers.IntegerField()
        success_rate = serializers.FloatField(allow_null=True)
        stages = serializers.DictField(child=serializers.DictField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(job_stats())
