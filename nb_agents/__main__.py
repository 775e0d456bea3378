"""``python -m nb_agents`` runs the ``nb-agents`` command."""

from nb_agents.cli import main

raise SystemExit(main())
