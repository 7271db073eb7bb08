"""Teams of an account (/team/*): shared limits and model lists, and who belongs to them."""
