"""arq job functions, by context. Each is `async def verb_noun(ctx, ...)` and safe to run twice."""
