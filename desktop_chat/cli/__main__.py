from desktop_chat.cli.app import main

raise SystemExit(main())
