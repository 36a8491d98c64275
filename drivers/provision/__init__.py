"""Preparing real nodes: the Ansible inventory from swarmscope's, and the wheel Ansible ships."""
