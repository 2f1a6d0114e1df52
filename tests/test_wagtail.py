"""The Wagtail integration in a real Wagtail project on SQLite (tests/wagtail_site), through Django's
test client: upload, backfill, the admin list and its actions, permissions; generation in process
with the tiny models, through a real llama.cpp server on 127.0.0.1, and through a scripted one.

Django is configured once for the whole pytest process (its settings are process-wide); each test
sets `ALTTEXT` with override_settings and starts from an empty image library and cache.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

pytest.importorskip("wagtail")

IMAGES = FIXTURES / "site" / "img"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test site's folder (BASE_DIR: database, media, alt-text cache), migrated once."""
    base = tmp_path_factory.mktemp("wagtail_site")
    os.environ["ALTTEXT_WAGTAIL_TEST_DIR"] = str(base)
    os.environ["DJANGO_SETTINGS_MODULE"] = "wagtail_site.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return base


@pytest.fixture()
def library(site: Path) -> Iterator[Path]:
    """An empty image library and alt-text cache; the background queue drained afterwards."""
    from wagtail.images import get_image_model

    from alttext_tools.integrations.wagtail.generation import forget_describer
    from alttext_tools.integrations.wagtail.worker import wait_idle

    get_image_model().objects.all().delete()
    (site / ".alttext-cache.jsonl").unlink(missing_ok=True)
    forget_describer()
    yield site
    assert wait_idle(120)
    forget_describer()


@pytest.fixture()
def users(site: Path) -> dict[str, Any]:
    """admin (superuser), editor (may change images), reader (admin access, no image permission)."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.auth.models import User as DjangoUser
    from wagtail.models import Collection, GroupCollectionPermission

    made: dict[str, Any] = {}
    access = Permission.objects.get(codename="access_admin")
    for name in ("admin", "editor", "reader"):
        user, created = DjangoUser.objects.get_or_create(username=name, defaults={"is_superuser": name == "admin"})
        made[name] = user
        if not created:
            continue
        group, _ = Group.objects.get_or_create(name=f"{name}s")
        group.permissions.add(access)
        user.groups.add(group)
        if name == "editor":
            for codename in ("add_image", "change_image", "choose_image"):
                GroupCollectionPermission.objects.get_or_create(
                    group=group,
                    collection=Collection.get_first_root_node(),
                    permission=Permission.objects.get(codename=codename),
                )
    return made


def tiny_settings(tiny_models: dict[str, Path]) -> dict[str, Any]:
    model = {"model": str(tiny_models["moondream_text"]), "mmproj": str(tiny_models["moondream_mmproj"])}
    return {
        "models": {"fast": {**model, "handler": "moondream"}, "text": {**model, "handler": "moondream"}},
        "language": None,
        "threads": 1,
        "gpu_layers": "none",
    }


def server_settings(base_url: str, model: str) -> dict[str, Any]:
    return {"backend": "openai", "base_url": base_url, "models": model, "retries": 0}


def new_image(title: str, source: Path, *, description: str = "", collection: Any = None) -> Any:
    from django.core.files.images import ImageFile
    from wagtail.images import get_image_model

    image_model = get_image_model()
    extra = {"collection": collection} if collection is not None else {}
    with source.open("rb") as handle:
        image = image_model(title=title, description=description, **extra)
        image.file = ImageFile(handle, name=source.name)
        image.save()
    return image


def reload(image: Any) -> Any:
    from wagtail.images import get_image_model

    return get_image_model().objects.get(pk=image.pk)


def backfill(*args: str) -> tuple[str, str | None]:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    try:
        call_command("alttext_backfill", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


# ------------------------------------------------------------------------------------- upload


def test_upload_gets_a_description_from_the_tiny_model_without_blocking(
    library: Path, users: dict[str, Any], tiny_models: dict[str, Path]
) -> None:
    from django.test import Client, override_settings
    from wagtail.images import get_image_model

    from alttext_tools.integrations.wagtail.generation import get_describer
    from alttext_tools.integrations.wagtail.models import GeneratedDescription
    from alttext_tools.integrations.wagtail.worker import wait_idle

    client = Client()
    client.force_login(users["editor"])
    with override_settings(ALTTEXT=tiny_settings(tiny_models)):
        describer = get_describer()
        with describer.lock:  # the model is busy: the upload must not wait for it
            started = time.monotonic()
            with (IMAGES / "mountains.jpg").open("rb") as handle:
                response = client.post("/admin/images/add/", {"title": "Team photo", "file": handle})
            answered = time.monotonic() - started
            assert response.status_code == 302, response.content[:2000]
            image = get_image_model().objects.get(title="Team photo")
            assert image.description == ""  # saved at once, described later
            assert not wait_idle(0.5)  # queued behind the busy model
        assert answered < 30
        assert wait_idle(180)
    image = reload(image)
    record = GeneratedDescription.objects.get(image=image)
    assert record.error == "" and record.state == "generated", record.error
    assert image.description and image.description == record.alt  # written by the tiny model
    assert record.model_id.startswith("tiny-moondream-text")
    assert len(record.sha256) == 64
    # The same bytes were stored in the content-addressed cache.
    assert record.sha256 in (library / ".alttext-cache.jsonl").read_text(encoding="utf-8")


def test_upload_with_a_description_or_with_on_upload_off_is_left_alone(
    library: Path, tiny_models: dict[str, Path]
) -> None:
    from django.test import override_settings

    from alttext_tools.integrations.wagtail.worker import wait_idle

    with override_settings(ALTTEXT=tiny_settings(tiny_models)):
        kept = new_image("Logo", IMAGES / "logo.png", description="The Example Corp logo")
    with override_settings(ALTTEXT={**tiny_settings(tiny_models), "on_upload": False}):
        off = new_image("Chart", IMAGES / "chart.png")
    assert wait_idle(60)
    assert reload(kept).description == "The Example Corp logo"
    assert reload(off).description == ""
    assert not (library / ".alttext-cache.jsonl").exists()  # no model ran


def test_a_failure_is_one_log_line_and_the_image_is_kept(library: Path, caplog: pytest.LogCaptureFixture) -> None:
    from django.test import override_settings
    from openai_servers import FakeOpenAI, Reply

    from alttext_tools.integrations.wagtail.models import GeneratedDescription
    from alttext_tools.integrations.wagtail.worker import wait_idle

    with (
        FakeOpenAI(lambda seen, n: Reply(500, {"error": {"message": "model crashed"}}), models=["vision"]) as fake,
        override_settings(ALTTEXT=server_settings(fake.base_url, "vision")),
        caplog.at_level(logging.WARNING, logger="alttext"),
    ):
        image = new_image("Mountains", IMAGES / "mountains.jpg")
        assert wait_idle(60)
    image = reload(image)
    assert image.description == "" and image.file.name  # saved, without a description
    [line] = [r.getMessage() for r in caplog.records if r.name == "alttext"]
    assert line.startswith(f"alttext: image {image.pk} (Mountains): no description written: ")
    assert "model crashed" in line and "\n" not in line
    assert GeneratedDescription.objects.get(image=image).state == "failed"


def test_server_path_through_a_real_llama_cpp_server(
    library: Path, users: dict[str, Any], tiny_models: dict[str, Path]
) -> None:
    from django.test import Client, override_settings
    from openai_servers import LlamaServer, llama_server_available
    from wagtail.images import get_image_model

    from alttext_tools.integrations.wagtail.models import GeneratedDescription
    from alttext_tools.integrations.wagtail.worker import wait_idle

    if not llama_server_available():
        pytest.skip("llama-cpp-python[server] is not installed")
    client = Client()
    client.force_login(users["admin"])
    with (
        LlamaServer(tiny_models["moondream_text"], tiny_models["moondream_mmproj"]) as server,
        override_settings(ALTTEXT=server_settings(server.base_url, server.alias)),
    ):
        with (IMAGES / "mountains.jpg").open("rb") as handle:
            response = client.post("/admin/images/add/", {"title": "Team photo", "file": handle})
        assert response.status_code == 302
        assert wait_idle(180)
        completions = [line for line in server.lines if "/v1/chat/completions" in line]
    image = get_image_model().objects.get(title="Team photo")
    record = GeneratedDescription.objects.get(image=image)
    assert record.error == "" and image.description == record.alt != ""
    assert record.model_id.startswith(f"openai:{server.alias}")
    assert completions  # the server wrote it, no model in this process


def test_server_path_through_alttext_serve(library: Path, tiny_models: dict[str, Path], tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    from django.test import override_settings

    from alttext_tools.integrations.wagtail.models import GeneratedDescription
    from alttext_tools.integrations.wagtail.serve_client import ServeError, describe_with_serve
    from alttext_tools.integrations.wagtail.worker import wait_idle
    from alttext_tools.text import one_line

    args = ["--model", str(tiny_models["moondream_text"]), "--mmproj", str(tiny_models["moondream_mmproj"])]
    env = {k: v for k, v in os.environ.items() if k != "ALTTEXT_SERVE_TOKEN"}
    process = subprocess.Popen(
        [sys.executable, "-m", "alttext_tools.serve", "--port", "0", *args, "--handler", "moondream", "--threads", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())  # printed once the model is loaded
        assert match, "alttext serve did not start"
        with override_settings(ALTTEXT={"serve_url": match.group(0)}):
            image = new_image("Team photo", IMAGES / "mountains.jpg")
            assert wait_idle(120)
        # A refused request shows the server's own message, not only the HTTP reason phrase.
        request = urllib.request.Request(
            match.group(0) + "/v1/alt",
            data=json.dumps({"image_base64": base64.b64encode(b"not an image").decode()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        message = json.loads(refused.value.read())["message"]
        with pytest.raises(ServeError) as raised:
            describe_with_serve(match.group(0), b"not an image", page_title=None, text=None, language=None, timeout=30)
        assert one_line(message) in str(raised.value)
    finally:
        process.terminate()
        process.wait(timeout=30)
    record = GeneratedDescription.objects.get(image=image)
    assert record.error == "" and reload(image).description == record.alt != ""
    assert record.model_id.startswith("tiny-moondream-text")
    assert not (library / ".alttext-cache.jsonl").exists()  # the server did the work


# ------------------------------------------------------------------------------------ backfill


def answer(seen: Any, n: int) -> Any:
    from openai_servers import Reply, completion

    return Reply(body=completion(f'{{"alt": "Picture number {n}", "decorative": false}}'))


def test_backfill_fills_the_rest_and_a_second_run_generates_nothing(library: Path) -> None:
    from django.test import override_settings
    from openai_servers import FakeOpenAI
    from wagtail.images import get_image_model

    with (
        FakeOpenAI(answer, models=["vision"]) as fake,
        override_settings(ALTTEXT={**server_settings(fake.base_url, "vision"), "on_upload": False}),
    ):
        described = new_image("Described", IMAGES / "logo.png", description="Our logo")
        for name in ("mountains.jpg", "chart.png", "settings-screenshot.png"):
            new_image(name, IMAGES / name)
        new_image("Same bytes", IMAGES / "chart.png")  # a second upload of the same file
        dry, error = backfill("--dry-run")
        assert error is None and fake.chat_requests == 0
        assert "4 images would be described (dry run: nothing written)." in dry
        out, error = backfill()
        assert error is None, out
        assert fake.chat_requests == 3  # the same bytes are not generated twice
        requests = fake.chat_requests
        again, error = backfill()
        assert error is None and fake.chat_requests == requests
        overwrite, error = backfill("--overwrite")
        assert error is None and fake.chat_requests == requests + 1  # only the logo is new to the cache
    lines = out.splitlines()
    assert lines[0].startswith("[1/4] image ") and lines[3].startswith("[4/4] image ")
    assert lines[-1] == "4 described (3 generated, 1 from the cache), 0 failed, 0 skipped."
    assert again.strip() == "No images to describe."
    assert overwrite.splitlines()[-1] == "5 described (1 generated, 4 from the cache), 0 failed, 0 skipped."
    descriptions = dict(get_image_model().objects.values_list("title", "description"))
    assert descriptions["Same bytes"] == descriptions["chart.png"]
    assert all(text.startswith("Picture number ") for title, text in descriptions.items() if title != "Described")
    assert reload(described).description == "Picture number 3"  # --overwrite replaced it


def test_backfill_collection_limit_and_failures(library: Path) -> None:
    from django.test import override_settings
    from openai_servers import FakeOpenAI, Reply
    from wagtail.models import Collection

    root = Collection.get_first_root_node()
    team = root.get_children().filter(name="Team").first() or root.add_child(name="Team")
    with (
        FakeOpenAI(answer, models=["vision"]) as fake,
        override_settings(ALTTEXT={**server_settings(fake.base_url, "vision"), "on_upload": False}),
    ):
        in_team = new_image("Team trip", IMAGES / "mountains.jpg", collection=team)
        other = new_image("Chart", IMAGES / "chart.png")
        third = new_image("Screenshot", IMAGES / "settings-screenshot.png")
        out, error = backfill("--collection", "Team")
        assert error is None and out.splitlines()[-1].startswith("1 described")
        assert reload(in_team).description and not reload(other).description
        prompt = str(fake.chats[0].body)
        assert "Team trip" in prompt and "Team" in prompt.replace("Team trip", "")  # title and collection
        out, error = backfill("--limit", "1")
        assert error is None and "[1/1]" in out and not reload(third).description
        _, error = backfill("--collection", "Nope")
        assert error == "no collection named or numbered 'Nope'"
    with (
        FakeOpenAI(lambda seen, n: Reply(body="not json at all"), models=["vision"]) as broken,
        override_settings(ALTTEXT={**server_settings(broken.base_url, "vision"), "on_upload": False}),
    ):
        out, error = backfill()
    assert error == "1 image could not be described"
    assert "failed: " in out and reload(third).description == ""


# ---------------------------------------------------------------------------------- admin view


def test_admin_list_accept_edit_regenerate(library: Path, users: dict[str, Any]) -> None:
    from django.test import Client, override_settings
    from openai_servers import FakeOpenAI

    from alttext_tools.cache.store import AltCache
    from alttext_tools.integrations.wagtail.models import GeneratedDescription

    client = Client()
    client.force_login(users["editor"])
    with (
        FakeOpenAI(answer, models=["vision"]) as fake,
        override_settings(ALTTEXT={**server_settings(fake.base_url, "vision"), "on_upload": False}),
    ):
        done = new_image("Reviewed by hand", IMAGES / "logo.png", description="Our logo")
        images = [new_image(name, IMAGES / name) for name in ("mountains.jpg", "chart.png", "spacer.gif")]
        backfill("--limit", "2")
        page = client.get("/admin/alttext/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "3 images without a description or with generated text" in html
        assert done.title not in html
        for image in images:
            assert f'data-image-id="{image.pk}"' in html
        assert "written by openai:vision" in html and "no description" in html

        accepted, edited, empty = images
        response = client.post(f"/admin/alttext/{accepted.pk}/", {"action": "accept"})
        assert response.status_code == 302
        response = client.post(f"/admin/alttext/{edited.pk}/", {"action": "edit", "alt": "  A bar chart\nof sales "})
        assert response.status_code == 302
        before = fake.chat_requests
        response = client.post(f"/admin/alttext/{empty.pk}/", {"action": "regenerate"})
        assert response.status_code == 302 and fake.chat_requests == before + 1
        html = client.get("/admin/alttext/").content.decode()

    assert f'data-image-id="{accepted.pk}"' not in html and f'data-image-id="{edited.pk}"' not in html
    assert f'data-image-id="{empty.pk}"' in html  # regenerated text still waits for a person
    assert reload(edited).description == "A bar chart of sales"
    states = dict(GeneratedDescription.objects.values_list("image_id", "state"))
    assert (states[accepted.pk], states[edited.pk], states[empty.pk]) == ("reviewed", "edited", "generated")
    cache = {(e.sha256, e.state) for e in AltCache.open(library / ".alttext-cache.jsonl").entries()}
    records = {r.image_id: r.sha256 for r in GeneratedDescription.objects.all()}
    assert (records[accepted.pk], "reviewed") in cache and (records[edited.pk], "edited") in cache


# ---------------------------------------------------------------------------------- permissions


def test_a_user_without_image_permissions_cannot_reach_the_admin_view(library: Path, users: dict[str, Any]) -> None:
    from django.test import Client, override_settings

    with override_settings(ALTTEXT={"on_upload": False}):
        image = new_image("Mountains", IMAGES / "mountains.jpg", description="")
        reader = Client()
        reader.force_login(users["reader"])
        assert reader.get("/admin/").status_code == 200  # an admin user...
        for response in (  # ...without image permissions: Wagtail's "permission denied" (back to the dashboard)
            reader.get("/admin/alttext/", follow=True),
            reader.post(f"/admin/alttext/{image.pk}/", {"action": "edit", "alt": "x"}, follow=True),
        ):
            assert response.redirect_chain == [("/admin/", 302)]
            assert "Sorry, you do not have permission to access this area." in response.content.decode()
            assert f'data-image-id="{image.pk}"' not in response.content.decode()
        assert "/admin/alttext/" not in reader.get("/admin/").content.decode()  # no menu item
        assert reload(image).description == ""
        anonymous = Client()
        response = anonymous.get("/admin/alttext/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        editor = Client()
        editor.force_login(users["editor"])
        assert editor.get("/admin/alttext/").status_code == 200
        assert "/admin/alttext/" in editor.get("/admin/").content.decode()


def test_settings_errors_are_one_line(site: Path) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings

    from alttext_tools.integrations.wagtail.conf import project_config

    for settings, message in [
        ({"gpu_layers": "lots"}, "gpu_layers must be all, none or a number of layers, not 'lots'"),
        ({"models": {"photo": "x"}}, "models has no slot 'photo' (slots: fast, text)"),
        ({"backend": "cloud"}, "backend must be one of local, openai, not 'cloud'"),
    ]:
        with override_settings(ALTTEXT=settings), pytest.raises(ImproperlyConfigured) as caught:
            project_config()
        assert message in str(caught.value) and "\n" not in str(caught.value)
    with override_settings(ALTTEXT={"models": "moondream2", "language": "de", "gpu_layers": "all"}):
        config = project_config()
    assert (config.fast_model, config.text_model, config.language, config.gpu_layers) == (
        "moondream2",
        "moondream2",
        "de",
        -1,
    )
    assert config.root == site.resolve()


def test_every_module_of_the_app_imports_and_its_errors_derive_from_the_root(site: Path) -> None:
    import importlib
    import inspect
    import pkgutil

    import alttext_tools.integrations.wagtail as app
    from alttext_tools.errors import AltTextError

    for info in pkgutil.walk_packages(app.__path__, prefix=f"{app.__name__}."):
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name and not name.startswith("_"):
                assert issubclass(cls, AltTextError), name
