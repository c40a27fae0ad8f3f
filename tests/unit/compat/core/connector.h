/* The unit tests' old name of the runtime's header (the runtime left src/core for src/runtime). */
#include "runtime/connector.h"
