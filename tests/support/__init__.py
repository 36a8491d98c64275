"""Helpers tests share: free ports, real daemons started and stopped by PID."""
