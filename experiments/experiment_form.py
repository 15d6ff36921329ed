"""The dashboard's experiment form: reads what a person picked into `experiment_create`'s arguments.

Field names are the stable ones of API.md ("Dashboard"): `name`, `dataset`, `arms` (values
`provider:model`), `scorers` (values = scorer `type`), `samples_per_case`, `seed`, `budget_usd`,
`concurrency`. Around them, per arm `config-<arm>-<key>` (temperature, max tokens, system prompt,
timeout, more keys as a JSON object), per scorer `scorer-<type>-<option>`, and for a provider whose
allowlist rule is a pattern a free-text `model-<provider>` checked against that pattern. The form
only parses; the allowlist and credentials are checked again by the service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django import forms

from evaluation.catalog import ScorerChoice, scorer_choices
from experiments import selectors
from orgs.models import Organization
from providers.selectors import ArmChoices, arm_choices

# Per-arm settings a person sets in the form: (key, label, parser). Anything else goes in "more".
_NUMBER_KEYS = (
    ("temperature", "temperature", float, 0.0, 2.0),
    ("max_tokens", "max tokens", int, 1, 1_000_000),
    ("top_p", "top p", float, 0.0, 1.0),
    ("timeout", "timeout (s)", float, 0.1, 3600.0),
)


@dataclass
class ArmRow:
    """One line of the arm picker: an explicit model (a checkbox) or a provider's free-text model."""

    key: str  # the prefix of its config fields: the arm value, or "custom:<provider>"
    provider: str
    model: str  # "" for a free-text row until typed
    patterns: tuple[str, ...] = ()
    checked: bool = False
    config: dict[str, str] = field(default_factory=dict)  # raw field values, to show them back
    errors: list[str] = field(default_factory=list)

    @property
    def value(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def free_text(self) -> bool:
        return bool(self.patterns)


def split_arm(value: str) -> tuple[str, str]:
    """`provider:model` -> (provider, model); model ids may themselves hold a colon ("llama3:8b")."""
    provider, _, model = value.partition(":")
    return provider.strip(), model.strip()


class ArmsField(forms.MultipleChoiceField):
    """Checkbox values of the explicit models, plus any `provider:model` a pattern rule allows
    (programs and browser suites post arm names as answers name them)."""

    def __init__(self, *args: Any, catalog: list[ArmChoices] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.catalog = catalog or []

    def valid_value(self, value: Any) -> bool:
        provider, model = split_arm(str(value))
        return any(c.provider == provider and model and c.allows(model) for c in self.catalog)


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=200)
    dataset = forms.ModelChoiceField(queryset=None, empty_label="Choose a dataset…")  # type: ignore[arg-type]
    arms = ArmsField(required=False, widget=forms.CheckboxSelectMultiple)
    scorers = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    samples_per_case = forms.IntegerField(min_value=1, max_value=100, initial=1)
    seed = forms.IntegerField(initial=0)
    budget_usd = forms.DecimalField(
        required=False, min_value=0, max_digits=12, decimal_places=6,
        help_text="Stop issuing calls once this much is spent (USD). Empty: no cap.",
    )
    concurrency = forms.IntegerField(min_value=1, max_value=2000, initial=16, help_text="Most calls in flight for one run.")

    def __init__(self, *args: Any, org: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.catalog = arm_choices(org=org)
        self.scorer_catalog: list[ScorerChoice] = scorer_choices()
        self.fields["dataset"].queryset = selectors.dataset_list(org=org)
        self.fields["dataset"].label_from_instance = lambda d: f"{d.name} v{d.version} · {d.kind} · {d.rows} cases"
        arms_field: ArmsField = self.fields["arms"]  # type: ignore[assignment]
        arms_field.catalog = self.catalog
        arms_field.choices = [(f"{c.provider}:{m}", f"{c.provider}:{m}") for c in self.catalog for m in c.models]
        self.fields["scorers"].choices = [(s.type, s.type) for s in self.scorer_catalog]
        self.arm_rows = self._arm_rows()
        self.arm_specs: list[dict[str, Any]] = []
        self.scorer_specs: list[dict[str, Any]] = []

    # --- what the template shows ----------------------------------------------------------------

    def _arm_rows(self) -> list[ArmRow]:
        posted = set(self.data.getlist("arms")) if self.is_bound else set()
        rows = []
        for choice in self.catalog:
            for model in choice.models:
                row = ArmRow(key=f"{choice.provider}:{model}", provider=choice.provider, model=model)
                row.checked = row.value in posted
                rows.append(row)
            if choice.patterns:
                typed = self.data.get(f"model-{choice.provider}", "").strip() if self.is_bound else ""
                rows.append(ArmRow(key=f"custom:{choice.provider}", provider=choice.provider, model=typed,
                                   patterns=choice.patterns, checked=bool(typed)))
        for row in rows:
            row.config = {k: self.data.get(f"config-{row.key}-{k}", "") for k in self._config_keys()} if self.is_bound else {}
        return rows

    @staticmethod
    def _config_keys() -> list[str]:
        return [k for k, *_ in _NUMBER_KEYS] + ["system", "more"]

    def scorer_rows(self) -> list[dict[str, Any]]:
        chosen = set(self.data.getlist("scorers")) if self.is_bound else set()
        rows = []
        for s in self.scorer_catalog:
            options = []
            for o in s.options:
                name = f"scorer-{s.type}-{o.name}"
                if self.is_bound:
                    raw = self.data.get(name, "")
                    value: Any = bool(raw) if o.kind == "bool" else raw
                else:
                    value = o.default if o.kind == "bool" else ("" if o.default is None else o.default)
                options.append({"name": name, "label": o.name.replace("_", " "), "kind": o.kind,
                                "value": value, "required": o.required})
            rows.append({"type": s.type, "doc": s.doc, "slow": s.slow, "checked": s.type in chosen, "options": options})
        return rows

    # --- parsing --------------------------------------------------------------------------------

    def _arm_config(self, row: ArmRow) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for key, label, kind, low, high in _NUMBER_KEYS:
            raw = row.config.get(key, "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
            except ValueError:
                row.errors.append(f"{label} must be a{'n integer' if kind is int else ' number'}")
                continue
            if not low <= value <= high:
                row.errors.append(f"{label} must be between {low:g} and {high:g}")
                continue
            config[key] = value
        if row.config.get("system", "").strip():
            config["system"] = row.config["system"]
        more = row.config.get("more", "").strip()
        if more:
            try:
                extra = json.loads(more)
            except ValueError as exc:
                row.errors.append(f"more settings are not valid JSON ({exc.msg}, column {exc.colno})")
                extra = {}
            if not isinstance(extra, dict):
                row.errors.append('more settings must be a JSON object, e.g. {"stop": ["\\n"]}')
            else:
                config = {**extra, **config}
        return config

    def _scorer_spec(self, choice: ScorerChoice) -> tuple[dict[str, Any], list[str]]:
        spec: dict[str, Any] = {"type": choice.type}
        problems = []
        for o in choice.options:
            raw = self.data.get(f"scorer-{choice.type}-{o.name}", "")
            if o.kind == "bool":
                spec[o.name] = bool(raw)
                continue
            raw = raw.strip()
            if not raw:
                if o.required:
                    problems.append(f"{choice.type}: {o.name.replace('_', ' ')} is required")
                continue
            if o.kind == "number":
                try:
                    spec[o.name] = float(raw)
                except ValueError:
                    problems.append(f"{choice.type}: {o.name} must be a number")
            elif o.kind == "json":
                try:
                    spec[o.name] = json.loads(raw)
                except ValueError as exc:
                    problems.append(f"{choice.type}: {o.name} is not valid JSON ({exc.msg}, column {exc.colno})")
            else:
                spec[o.name] = raw
        return spec, problems

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        by_value = {row.key: row for row in self.arm_rows if not row.free_text}
        chosen: list[ArmRow] = []
        for value in data.get("arms") or []:
            row = by_value.get(value)
            if row is None:  # allowed by a pattern but not listed: a posted name, no config fields
                provider, model = split_arm(value)
                row = ArmRow(key=value, provider=provider, model=model, checked=True)
            chosen.append(row)
        for row in self.arm_rows:
            if row.free_text and row.model:
                if not any(c.provider == row.provider and c.allows(row.model) for c in self.catalog):
                    row.errors.append(f"{row.model!r} does not match the allowlist ({', '.join(row.patterns)})")
                chosen.append(row)
        if not chosen and "arms" not in self.errors:
            self.add_error("arms", "Pick at least one arm.")
        self.arm_specs = []
        for row in chosen:
            config = self._arm_config(row)
            if row.errors:
                self.add_error("arms", f"{row.value}: " + "; ".join(row.errors))
            self.arm_specs.append({"provider": row.provider, "model": row.model, "config": config})
        self.scorer_specs = []
        chosen_scorers = set(data.get("scorers") or [])
        for choice in self.scorer_catalog:
            if choice.type in chosen_scorers:
                spec, problems = self._scorer_spec(choice)
                for problem in problems:
                    self.add_error("scorers", problem)
                self.scorer_specs.append(spec)
        if not self.scorer_specs and "scorers" not in self.errors:
            self.add_error("scorers", "Pick at least one scorer: it decides what counts as a right answer.")
        return data

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of `experiments.services.experiment_create` (org and user aside)."""
        data = self.cleaned_data
        return {
            "name": data["name"], "dataset": data["dataset"], "arms": self.arm_specs, "scorers": self.scorer_specs,
            "samples_per_case": data["samples_per_case"], "seed": data["seed"], "budget_usd": data["budget_usd"],
            "concurrency": data["concurrency"],
        }
