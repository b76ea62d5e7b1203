"""Jenkins jobs as code: YAML specs -> typed models -> config.xml and Jenkinsfiles -> plan -> apply."""
