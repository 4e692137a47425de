"""The bundle's entry point: what ``desktop-chat`` runs."""

from desktop_chat.__main__ import main

raise SystemExit(main())
