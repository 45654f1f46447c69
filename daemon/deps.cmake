# Libraries the composition root wires together.
target_link_libraries(zuperior_daemon PUBLIC zuperior::api zuperior::ratelimit zuperior::ws zuperior::feed zuperior::auth zuperior::http zuperior::health zuperior::metrics
                      zuperior::db zuperior::cache zuperior::log zuperior::config zuperior::core zuperior::net
                      spdlog::spdlog fmt::fmt)
