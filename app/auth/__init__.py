"""Who is calling: master key, virtual keys (cached principals), and the guards that check roles."""
