"""`python -m mock_services`: run all five mocks on ports 8001-8005 until SIGINT or SIGTERM."""

from mock_services.mesh import main

raise SystemExit(main())
