from django.apps import AppConfig


class KaraokeSiteConfig(AppConfig):
    name = "karaoke_site"
    verbose_name = "Encore site"
