"""Management routes of one account: users, teams, organizations and spend logs."""
