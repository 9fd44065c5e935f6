"""Step 6: libcst transformers that apply a plan to one module, keeping everything else byte-identical."""
