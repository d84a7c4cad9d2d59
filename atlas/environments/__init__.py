"""Execution environments: where an agent's commands run. Docker is the only one so far."""

from atlas.environments.docker import DockerEnvironment, EnvError, ExecResult, ImageMissing, docker_client

__all__ = ["DockerEnvironment", "EnvError", "ExecResult", "ImageMissing", "docker_client"]
