"""The overhead bench: the same wrk load against the fake upstream, our gateway and LiteLLM, in one run."""
