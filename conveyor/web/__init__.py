"""The operations dashboard: server-rendered page shells plus small vanilla JavaScript modules.

Mounted into the API server by `conveyor.web.routes.mount_dashboard`. No build step: the
templates and static files ship inside the package.
"""
