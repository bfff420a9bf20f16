"""Map the repository's top-level folders onto the ``stammkunde`` namespace (DESIGN.md)."""

from setuptools import find_packages, setup

FOLDERS = {"core": "stammkunde.core", "plugins": "stammkunde.plugins",
           "webhooks": "stammkunde.webhooks", "app": "stammkunde.app"}

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder, name in FOLDERS.items():
    package_dir[name] = folder
    packages.append(name)
    packages.extend(f"{name}.{sub}" for sub in find_packages(folder))

setup(packages=packages, package_dir=package_dir)
