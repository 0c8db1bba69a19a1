"""Serving: the store, jobs and their runner, security, logs, sign-in and the worker."""
