"""`deepatoms serve`: the lab in the browser — a local web app on the same store, runner and
validation as the CLI (app: the routes; requests: the checks of what a page submits; jobs: the
queue and worker processes; worker: one run in a worker; security: host, origin and token)."""
