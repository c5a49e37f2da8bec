//! The statuses of ECS's resources as typed values: each one's wire spelling, parsing, and (for
//! tasks) the lifecycle order statuses move along. Declared with [`statuses!`] so every enum
//! has the same `as_str`, `parse`, `ALL`, `Display` and serde spelling.

/// Declares a status enum: variants in order, each with its wire spelling; the first is the
/// default.
macro_rules! statuses {
    ($(#[$doc:meta])* $name:ident { $first:ident => $first_wire:literal $(, $variant:ident => $wire:literal)* $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            #[default]
            #[serde(rename = $first_wire)]
            $first,
            $(#[serde(rename = $wire)] $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$name::$first $(, $name::$variant)*];

            /// The status as ECS writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $name::$first => $first_wire,
                    $($name::$variant => $wire,)*
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|s| s.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

statuses! {
    /// A task's or a container's status (`lastStatus`, `desiredStatus`), in lifecycle order:
    /// comparing two tells which comes later (statuses only ever move forward).
    TaskStatus {
        Provisioning => "PROVISIONING",
        Pending => "PENDING",
        Activating => "ACTIVATING",
        Running => "RUNNING",
        Deactivating => "DEACTIVATING",
        Stopping => "STOPPING",
        Deprovisioning => "DEPROVISIONING",
        Stopped => "STOPPED",
    }
}

statuses! {
    /// A container instance's status.
    InstanceStatus {
        Active => "ACTIVE",
        Draining => "DRAINING",
        Inactive => "INACTIVE",
        Registering => "REGISTERING",
        Deregistering => "DEREGISTERING",
        RegistrationFailed => "REGISTRATION_FAILED",
    }
}

statuses! {
    /// A service's status.
    ServiceStatus {
        Active => "ACTIVE",
        Draining => "DRAINING",
        Inactive => "INACTIVE",
    }
}

statuses! {
    /// A service deployment's status.
    DeploymentStatus {
        Primary => "PRIMARY",
        Active => "ACTIVE",
        Inactive => "INACTIVE",
    }
}

statuses! {
    /// A task set's status (services of the EXTERNAL deployment controller).
    TaskSetStatus {
        Active => "ACTIVE",
        Primary => "PRIMARY",
        Draining => "DRAINING",
    }
}

statuses! {
    /// Whether a task set runs what it should (`stabilityStatus`).
    StabilityStatus {
        Stabilizing => "STABILIZING",
        SteadyState => "STEADY_STATE",
    }
}

statuses! {
    /// Who deploys a service: ECS itself, or an outside tool through task sets.
    DeploymentControllerType {
        Ecs => "ECS",
        External => "EXTERNAL",
    }
}

statuses! {
    /// A deployment's rollout state.
    RolloutState {
        InProgress => "IN_PROGRESS",
        Completed => "COMPLETED",
        Failed => "FAILED",
    }
}

statuses! {
    /// A cluster's status.
    ClusterStatus {
        Active => "ACTIVE",
        Provisioning => "PROVISIONING",
        Deprovisioning => "DEPROVISIONING",
        Failed => "FAILED",
        Inactive => "INACTIVE",
    }
}

statuses! {
    /// A capacity provider's status: ACTIVE until deleted (those of Managed Instances, which
    /// provision and deprovision, are refused).
    CapacityProviderStatus {
        Active => "ACTIVE",
        Provisioning => "PROVISIONING",
        Deprovisioning => "DEPROVISIONING",
        Inactive => "INACTIVE",
    }
}

statuses! {
    /// A task's or a container's health (`healthStatus`).
    HealthStatus {
        Unknown => "UNKNOWN",
        Healthy => "HEALTHY",
        Unhealthy => "UNHEALTHY",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_keep_their_wire_spelling_and_task_statuses_their_order() {
        for status in TaskStatus::ALL {
            let json = serde_json::to_string(status).expect("json");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(serde_json::from_str::<TaskStatus>(&json).expect("back"), *status);
            assert_eq!(TaskStatus::parse(status.as_str()), Some(*status));
        }
        assert!(
            TaskStatus::Pending < TaskStatus::Running && TaskStatus::Running < TaskStatus::Stopped
        );
        assert_eq!(
            InstanceStatus::parse("REGISTRATION_FAILED"),
            Some(InstanceStatus::RegistrationFailed)
        );
        assert_eq!(RolloutState::InProgress.to_string(), "IN_PROGRESS");
        assert!(serde_json::from_str::<ServiceStatus>("\"RUNNING\"").is_err());
        assert_eq!(ClusterStatus::default(), ClusterStatus::Active);
    }
}

statuses! {
    /// A task definition revision's status: registered, deregistered, or on its way out.
    TaskDefinitionStatus {
        Active => "ACTIVE",
        Inactive => "INACTIVE",
        DeleteInProgress => "DELETE_IN_PROGRESS",
    }
}
