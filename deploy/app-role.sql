-- The password of the application role, so the API and workers can log in as it.
--
-- `alchemi migrate` creates `alchemi_app` (LOGIN NOBYPASSRLS, owns nothing, no password) and grants it what
-- it may touch; row-level security applies to every query it makes. Run this as the tables' owner after
-- every migrate (docker-compose.yml's one-shot `app-role` service does), with the password as a psql variable:
--
--   psql -v ON_ERROR_STOP=1 -v app_password="$ALCHEMI_APP_DB_PASSWORD" -f deploy/app-role.sql
--
-- Changing the password: change it here (re-run) and in ALCHEMI_APP_DATABASE_URL together.
ALTER ROLE alchemi_app WITH LOGIN NOBYPASSRLS PASSWORD :'app_password';
