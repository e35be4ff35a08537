from integrations_cli.app import main

raise SystemExit(main())
