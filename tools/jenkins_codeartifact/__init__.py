"""Publish Python packages to AWS CodeArtifact from Jenkins and ship a consumer to ECS Fargate."""

__version__ = "0.1.0"
