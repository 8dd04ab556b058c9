# Debian packages (`cmake --build build --target package`, or `cpack` in the build dir):
#   stampede        the CLI, the coordinator (`stampede serve`) and stampede-target, with
#                   stampede-coordinator.service
#   stampede-agent  the agent, with stampede-agent.service
# Dependencies come from the binaries (dpkg-shlibdeps). Both packages run their service as the
# system user `stampede` (created by postinst, deleted only on purge), settings and secrets in
# /etc/stampede (root:stampede 0750, secrets 0640), state in /var/lib/stampede(-agent).
# tests/deploy/package_install_test.sh installs, runs and removes them; deploy/README.md says how.

include(GNUInstallDirs)

set(_pkg_src ${PROJECT_SOURCE_DIR}/deploy)
set(_pkg_gen ${PROJECT_BINARY_DIR}/packaging)

# --- what each package holds ---
install(TARGETS stampede stampede-target RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT coordinator)
install(TARGETS stampede-agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT agent)
# The exec probe of the container image (deploy/k8s): the agent has no health endpoint.
install(PROGRAMS ${_pkg_src}/docker/stampede-agent-probe
        DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/stampede-agent COMPONENT agent)
# Debian 12 keeps package units in /lib/systemd/system; /usr/lib/systemd/system is read as well
# and is where a /usr prefix puts them.
install(FILES ${_pkg_src}/systemd/stampede-coordinator.service
        DESTINATION lib/systemd/system COMPONENT coordinator)
install(FILES ${_pkg_src}/systemd/stampede-agent.service
        DESTINATION lib/systemd/system COMPONENT agent)

# Maintainer scripts, copyright and changelog per package. Settings examples go under
# doc/examples, not /etc: cloud-init or the administrator writes the real ones, and a shipped
# conffile would make dpkg ask about them on every upgrade.
foreach(_comp coordinator agent)
  if(_comp STREQUAL coordinator)
    set(PKG stampede)
    set(OTHER_PKG stampede-agent)
    set(STATE_DIR /var/lib/stampede)
  else()
    set(PKG stampede-agent)
    set(OTHER_PKG stampede)
    set(STATE_DIR /var/lib/stampede-agent)
  endif()
  foreach(_script postinst postrm)
    configure_file(${_pkg_src}/debian/${_script}.in ${_pkg_gen}/${_comp}/${_script} @ONLY
                   FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
                                    GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  endforeach()
  set(_doc ${CMAKE_INSTALL_DATAROOTDIR}/doc/${PKG})
  install(FILES ${_pkg_src}/debian/copyright DESTINATION ${_doc} COMPONENT ${_comp})
  install(FILES ${_pkg_src}/debian/${_comp}.env DESTINATION ${_doc}/examples COMPONENT ${_comp})
  # Debian wants the changelog compressed, reproducibly (no name, no time stamp).
  execute_process(COMMAND gzip -9nc ${_pkg_src}/debian/changelog
                  OUTPUT_FILE ${_pkg_gen}/${_comp}/changelog.gz COMMAND_ERROR_IS_FATAL ANY)
  install(FILES ${_pkg_gen}/${_comp}/changelog.gz DESTINATION ${_doc} COMPONENT ${_comp})
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_pkg_src}/debian/changelog)

# --- CPack: two .deb files ---
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME stampede)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "The Stampede authors")
set(CPACK_PACKAGE_CONTACT "Stampede developers <stampede@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_COMPONENTS_ALL coordinator agent)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_COORDINATOR_PACKAGE_NAME stampede)
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME stampede-agent)
# postinst creates the user with adduser; the shared-library dependencies are appended to these.
set(CPACK_DEBIAN_COORDINATOR_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_COORDINATOR_PACKAGE_CONTROL_EXTRA
    ${_pkg_gen}/coordinator/postinst ${_pkg_gen}/coordinator/postrm)
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA ${_pkg_gen}/agent/postinst ${_pkg_gen}/agent/postrm)
# Summary line, then the extended description (CPack indents it; lines under 80 columns).
set(CPACK_COMPONENT_COORDINATOR_DESCRIPTION
    "distributed HTTP load tests: CLI and coordinator
The stampede command runs load tests against HTTP model-serving endpoints,
embedded or on a coordinator (stampede serve, stampede-coordinator.service)
that pushes plans to agents in several regions, stores every request record
and merges the reports. Also stampede-target, a simulated model endpoint.")
set(CPACK_COMPONENT_AGENT_DESCRIPTION
    "distributed HTTP load tests: agent
stampede-agent dials out to a Stampede coordinator, registers with its region
and labels, runs the load plans it is given and streams a record of every
request back (stampede-agent.service).")
include(CPack)
