from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"

    def ready(self) -> None:
        # Scorers defined outside scorers.py register themselves on import; importing them here
        # makes their types known wherever experiments are validated or scored.
        from evaluation import cleaning, pr_validation  # noqa: F401
