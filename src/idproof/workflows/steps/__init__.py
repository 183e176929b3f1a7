"""Workflow steps beyond capture: e-mail and phone codes, questionnaires, screening."""
