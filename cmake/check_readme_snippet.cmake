# Fails unless README contains SNIPPET's text verbatim (so the README example is the one we build).
file(READ ${README} readme)
file(READ ${SNIPPET} snippet)
string(FIND "${readme}" "${snippet}" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "${README} does not contain ${SNIPPET} verbatim: update the README's usage example")
endif()
