#include "cli/components.h"

#include <cstdio>
#include <cstdlib>

namespace gort::cli {

bool component_landed(std::string_view name) {
  for (const Component& c : kComponents) {
    if (c.name == name) return c.landed;
  }
  std::fprintf(stderr, "gort: no component named \"%.*s\"\n",
               static_cast<int>(name.size()), name.data());
  std::abort();
}

}  // namespace gort::cli
