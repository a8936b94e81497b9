#!/usr/bin/env python3
"""Reference server for the Issuance emulator's differential test.

Runs the seed's investment and offering filter sets on Django 3.2, DRF 3.14
and django-filter 23.1 (Debian bookworm's python3-django,
python3-djangorestframework, python3-django-filters) over a fixture in the
emulator's format, on a loopback port:

    python3 serve.py FIXTURE.json [PORT]

It prints "LISTENING http://127.0.0.1:PORT" once it accepts requests. The
database is SQLite; ref/lookups.py and PgOrderingFilter give it PostgreSQL's
string, NULL and (for ties) ordering semantics, as the emulator has.
"""
import datetime
import json
import logging
import os
import sys
import tempfile
from decimal import Decimal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import django  # noqa: E402
from django.conf import settings  # noqa: E402


def configure(db_path):
    settings.configure(
        DEBUG=False,
        SECRET_KEY="reference-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF="ref.urls",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "django_filters", "ref"],
        MIDDLEWARE=[],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db_path}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        TIME_ZONE="UTC",
        USE_L10N=False,  # Django 3.2's default: the global DATE_INPUT_FORMATS
        USE_I18N=False,
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": [],
            "DEFAULT_PERMISSION_CLASSES": [],
            "UNAUTHENTICATED_USER": None,
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        },
        LOGGING_CONFIG=None,
    )
    django.setup()
    logging.disable(logging.CRITICAL)  # tracebacks of the expected 500s would drown the test output


def ts(s):
    return None if s is None else datetime.datetime.fromisoformat(s)


def load(path):
    from django.apps import apps
    from django.db import connection, transaction
    from ref.models import (Entity, Investment, InvestmentApproval, Investor, Issuer, Offering, User,
                            WatchlistEntity)

    with connection.schema_editor() as editor:
        for model in apps.get_app_config("ref").get_models():
            editor.create_model(model)
    with open(path, encoding="utf-8") as f:
        fx = json.load(f)
    with transaction.atomic():
        Issuer.objects.bulk_create([Issuer(id=x["id"], name=x["name"], archived=x.get("archived", False))
                                    for x in fx.get("issuers", [])])
        Offering.objects.bulk_create([Offering(
            id=o["id"], issuer_id=o["issuer"], name=o["name"], slug=o["slug"], type=o["type"], status=o["status"],
            archived=o.get("archived", False), created_at=ts(o["created_at"]), opened_at=ts(o.get("opened_at")))
            for o in fx.get("offerings", [])])
        User.objects.bulk_create([User(id=u["id"], email=u["email"], first_name=u.get("first_name", ""),
                                       last_name=u.get("last_name", "")) for u in fx.get("users", [])])
        entities = {}
        for v in fx.get("investors", []):
            e = v.get("entity")
            if e:
                entities[e["id"]] = Entity(id=e["id"], email=e["email"], kyc_status=e["kyc_status"])
        Entity.objects.bulk_create(list(entities.values()))
        Investor.objects.bulk_create([Investor(id=v["id"], type=v["type"], user_id=v.get("user"),
                                               entity_id=(v.get("entity") or {}).get("id"))
                                      for v in fx.get("investors", [])])
        inv, appr, hits = [], [], []
        for i in fx.get("investments", []):
            inv.append(Investment(
                id=i["id"], offering_id=i["offering"], investor_id=i["investor"], reference_id=i["reference_id"],
                status=i["status"], quantity=i["quantity"], amount=Decimal(i["amount"]),
                shares_amount=Decimal(i["shares_amount"]), payment_method=i["payment_method"],
                requested_payment_method=i["requested_payment_method"],
                processing_issue_statuses=i["processing_issue_statuses"], created_at=ts(i["created_at"]),
                updated_at=ts(i["updated_at"]), processed_at=ts(i.get("processed_at"))))
            if i.get("is_approved") is not None:
                appr.append(InvestmentApproval(investment_id=i["id"], is_approved=i["is_approved"]))
            if i.get("watchlist_has_hits") is not None:
                hits.append(WatchlistEntity(investment_id=i["id"], has_hits=i["watchlist_has_hits"]))
        Investment.objects.bulk_create(inv, batch_size=500)
        InvestmentApproval.objects.bulk_create(appr, batch_size=500)
        WatchlistEntity.objects.bulk_create(hits, batch_size=500)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: serve.py FIXTURE.json [PORT]")
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    tmp = tempfile.mkdtemp(prefix="djangoref-")
    configure(os.path.join(tmp, "ref.sqlite3"))
    load(sys.argv[1])
    from django.core.wsgi import get_wsgi_application
    httpd = make_server("127.0.0.1", port, get_wsgi_application(), server_class=WSGIServer, handler_class=QuietHandler)
    print("LISTENING http://127.0.0.1:%d" % httpd.server_port, flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
