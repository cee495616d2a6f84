from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .labels import ACTIONS
from .selectors import EntryFilters

LAST_DAY = dt.date(9998, 12, 30)  # "to 31/12/9999" must not overflow when the day after is computed


class EntrySearchForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), required=False,
                               choices=[("", _("Any action")), *ACTIONS.items()])
    object_type = forms.CharField(label=_("Object type"), required=False, max_length=80,
                                  widget=forms.TextInput(attrs={"placeholder": "iam.user"}))
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=80)
    actor_user_id = forms.IntegerField(label=_("Actor (user id)"), required=False, min_value=1, max_value=2**63 - 1)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
                            help_text=_("inclusive"))

    def clean(self):
        data = super().clean()
        for name in ("object_type", "object_id"):
            if "\x00" in (data.get(name) or ""):
                self.add_error(name, _("Not a valid value."))
        return data

    def filters(self) -> EntryFilters:
        """The selector's filters; dates are whole days in the console's time zone, the end date included."""
        d = self.cleaned_data

        def midnight(day: dt.date) -> dt.datetime:
            return timezone.make_aware(dt.datetime.combine(day, dt.time.min))

        return EntryFilters(
            action=d.get("action") or None, object_type=d.get("object_type") or None,
            object_id=d.get("object_id") or None, actor_user_id=d.get("actor_user_id"),
            since=midnight(d["since"]) if d.get("since") else None,
            until=midnight(min(d["until"], LAST_DAY) + dt.timedelta(days=1)) if d.get("until") else None,
        )
