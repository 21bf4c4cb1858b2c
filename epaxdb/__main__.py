from epaxdb.cli import main

raise SystemExit(main())
