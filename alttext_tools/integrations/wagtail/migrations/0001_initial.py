"""GeneratedDescription, linked to the image model in use (WAGTAILIMAGES_IMAGE_MODEL)."""

import django.db.models.deletion
from django.db import migrations, models
from wagtail.images import get_image_model_string


class Migration(migrations.Migration):  # type: ignore[misc]  # django is untyped here
    initial = True

    dependencies = [migrations.swappable_dependency(get_image_model_string())]  # noqa: RUF012

    operations = [  # noqa: RUF012
        migrations.CreateModel(
            name="GeneratedDescription",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("sha256", models.CharField(blank=True, max_length=64)),
                ("alt", models.TextField(blank=True)),
                ("decorative", models.BooleanField(default=False)),
                ("model_id", models.CharField(blank=True, max_length=255)),
                ("language", models.CharField(blank=True, max_length=35)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("generated", "generated"),
                            ("reviewed", "reviewed"),
                            ("edited", "edited"),
                            ("failed", "failed"),
                        ],
                        default="generated",
                        max_length=16,
                    ),
                ),
                ("error", models.TextField(blank=True)),
                ("updated", models.DateTimeField(auto_now=True)),
                (
                    "image",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="alttext",
                        to=get_image_model_string(),
                    ),
                ),
            ],
            options={"verbose_name": "generated image description"},
        ),
    ]
