#!/usr/bin/env python3
"""Runs the reference parsers over test inputs for TestPythonParsers.

Reads a JSON array of {"kind": ..., "s": ...} on stdin and writes a JSON
array of results: the value in a canonical form, or "ERR <message>".
"""
import datetime
import json
import sys
from decimal import Decimal
from urllib.parse import parse_qsl, quote_plus

import django
from django.conf import settings

settings.configure(USE_TZ=True, TIME_ZONE="UTC", USE_L10N=False, USE_I18N=False)
django.setup()

from django import forms  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402
from django.core.validators import MaxValueValidator  # noqa: E402
from django_filters.fields import IsoDateTimeField  # noqa: E402
from django_filters.widgets import BooleanWidget  # noqa: E402

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
number = forms.DecimalField(required=False)
number.validators.append(MaxValueValidator(1e50))  # django-filter's NumberFilter
date = forms.DateField(required=False)
dt = IsoDateTimeField(required=False)


def err(e):
    if isinstance(e, ValidationError):
        return "ERR " + "; ".join(e.messages)
    return "ERR " + type(e).__name__


def run(kind, s):
    try:
        if kind == "int":
            return str(int(s))
        if kind == "number":
            v = number.clean(s)
            if v is None:
                return "None"
            sign, digits, exp = v.as_tuple()
            coef = "".join(map(str, digits)).lstrip("0")
            if not coef:
                return "0"
            return "%s%se%d" % ("-" if sign else "", coef, exp)
        if kind == "date":
            v = date.clean(s)
            return "None" if v is None else str((v - datetime.date(1970, 1, 1)).days)
        if kind == "datetime":
            v = dt.clean(s)
            return "None" if v is None else str((v - EPOCH) // datetime.timedelta(microseconds=1))
        if kind == "bool":
            return repr(BooleanWidget().value_from_datadict({"x": s}, {}, "x"))
        if kind == "qsl":
            return json.dumps(parse_qsl(s, keep_blank_values=True), ensure_ascii=False)
        if kind == "quote_plus":
            return quote_plus(s)
        if kind == "split":
            return json.dumps(s.split(), ensure_ascii=False)
        if kind == "strip":
            return s.strip()
    except Exception as e:  # noqa: BLE001 (every failure is a result)
        return err(e)
    return "ERR unknown kind"


def main():
    cases = json.load(sys.stdin)
    json.dump([run(c["kind"], c["s"]) for c in cases], sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
